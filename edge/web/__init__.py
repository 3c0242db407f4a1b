"""The teacher's screen: a local web app for the kiosk display and teachers' tablets.

- ``state``: what the screen shows, and the in-process bus the service publishes into;
- ``publish``: show a result, save it durably, only then say "saved";
- ``views``, ``curves``, ``projection``, ``references``: the data behind each screen;
- ``app`` (routes), ``routing`` (request/response/route table), ``server`` (HTTP server),
  ``readers`` (read-only database connections);
- ``auth``, ``sessions``, ``passwords``, ``csrf``, ``ratelimit``: security; ``settings``: WebSettings;
- ``demo``: the simulated publisher; ``runtime``: everything wired together; ``command``:
  ``fieldcoach screen``.

The front end is plain HTML/CSS/JavaScript in ``static/`` (no build step, nothing from the network).
"""
