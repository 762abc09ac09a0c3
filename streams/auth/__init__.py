"""Who may do what: local accounts and sessions (embedded mode), the caller's scope, the audit
trail, and the command line that manages accounts and device credentials."""
