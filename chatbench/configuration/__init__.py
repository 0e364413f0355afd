"""Configuration: what a run is, decided before anything starts.

Paths of the checkout, the one load-profile parser, scenarios and modes, the API's endpoint
labels, the variants registry and its axes, suite files, the validated ``RunConfig`` and the
facts about this machine and its software. Nothing here starts a process or opens a socket
but for resolving a ``--target`` host name; every other package may import this one.
"""
