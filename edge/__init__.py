"""FieldCoach edge runtime: everything that runs on the appliance.

One stage, one package: ``skeleton`` (data model and files), ``importers`` (real
motion-capture formats), ``actions`` (declarative action specs), ``sim`` (the simulated
athlete), ``report`` (the analysis report), ``cli`` (the ``fieldcoach`` command).
"""

__version__ = "0.1.0"
