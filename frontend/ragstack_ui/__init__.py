"""The ragstack web UI (Reflex)."""
