//! LDAP mode (written once the slapd and gateway harnesses land).
