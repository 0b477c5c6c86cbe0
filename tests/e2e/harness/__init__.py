"""Helpers for staticedge's end-to-end tests: ports, certificates, processes and peers.

Every peer (the proxy, gunicorn, named, haproxy, tiny HTTP servers) runs as a child
process started through procs.Managed, which stops it by pid (TERM, then KILL after 5 s)
and also kills any descendants it left behind.
"""
