"""MambaRec explorer (Streamlit): pages, widgets, session state and background jobs; no model math."""
