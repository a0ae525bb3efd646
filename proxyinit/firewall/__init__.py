"""The redirector: APPMESH_* settings -> rule plan -> iptables-restore text -> one commit."""
