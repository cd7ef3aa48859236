"""Preprocessing: from a portrait video to a training-ready dataset/<id>/ folder."""
