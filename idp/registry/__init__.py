"""The Order's registry (tableau de l'Ordre): tables and queries; registry imports call into it."""
