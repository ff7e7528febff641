"""Human annotation: double labelling, adjudication and agreement, on the same store as runs and scores.

The web app (`flames.annotate.app`) imports FastAPI; everything else here is plain SQLAlchemy and numpy,
so the CLI and scorer validation work without the web extras.
"""
