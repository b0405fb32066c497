"""Generation on a server: the HTTP API's wire format (api.py), the instrument's client of it
(client.py, Python 3.8, the standard library only) and the server itself (server/, Ray Serve,
Python 3.10+)."""
