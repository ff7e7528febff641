"""The prompt design pages, mounted into the annotation web app (`flames.annotate.app`) under /design.

They reuse the app's sessions, role checks, CSRF protection, error pages and `base.html`; the logic lives in
`flames.design`, which imports no web framework.
"""
