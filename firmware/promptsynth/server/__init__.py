"""The generation server (`promptsynth serve`): the instrument's generator code served to a fleet
by Ray Serve. Needs Python 3.10+ and the ``server`` extra (``ray[serve]``); the instruments talk
to it over plain HTTP (remote/client.py, Python 3.8, no Ray).

  tokens.py   per-instrument API tokens, stored hashed
  jobs.py     the job table: bounded queue, each job's events and result, expiry
  replica.py  the model deployment: one resident pipeline a replica, compatible jobs batched
  ingress.py  the HTTP API (remote/api.py), in front of one model deployment per model
  app.py      building the application and running it (a local Ray, or a cluster joined)
"""
