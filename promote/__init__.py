"""Build, prove and promote Concourse AMIs across environments."""

__version__ = "0.1.0"
