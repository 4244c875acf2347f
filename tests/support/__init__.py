"""Helpers shared by the suites: in-memory fakes of the ports, the moto estate, faults, crashes."""
