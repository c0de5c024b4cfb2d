"""Delegations: an expert-comptable grants a collaborator access to services on their behalf."""
