"""AWS: one boto3 session (session.py) and one adapter per service, the only boto3 importers."""
