"""SportsRAG: offline training guidance grounded in a reviewed knowledge base (``edge/guide/kb``).

``kb_schema`` validates and loads the corpus (problems, drills, general guidance) and fingerprints it
(``CORPUS_VERSION``); retrieval and the guidance composer build on the entries it returns.
"""
