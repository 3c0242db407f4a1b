"""The real-time service behind ``fieldcoach serve`` (systemd/fieldcoach.service).

- ``realtime``: capture -> fusion -> segmentation -> scorer -> MotionDTW -> KISMAM -> store ->
  screen, with guidance streamed afterwards on its own thread;
- ``notify``: the systemd notification protocol (READY, WATCHDOG, STOPPING, STATUS);
- ``metrics``: counters and latency windows (``GET /api/metrics``, the reliability scripts);
- ``health``: the models check behind ``GET /health`` (the over-the-air update's health contract);
- ``sources``: the simulated class at skeleton level (the lesson-day script) and real-time pacing;
- ``cli``: the ``fieldcoach serve`` command; ``lessonday`` and ``powercut``: reliability scripts.
"""
