"""Sounds from text: the generator process (AudioLDM 2 / AudioLDM through diffusers).

Only the modules that need torch import it (pipeline, runner, worker, tiny, random_weights);
the registry, the parameters and the client import anywhere, Python 3.8 included.
"""
