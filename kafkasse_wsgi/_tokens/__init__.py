"""Subscriber tokens' internals; :mod:`kafkasse_wsgi.tokens` is the public face.

- :mod:`.keys`: the keys a token is verified with (PEM, key files, HS secrets, a JWKS URL).
- :mod:`.jwks`: a JWKS URL fetched, cached and refreshed within bounded time.
- :mod:`.key_text`: how a text names a key, one rule for the variable, the flag and Python.
"""
