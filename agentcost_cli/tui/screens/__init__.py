"""The dashboard's screens: one main screen per mode, plus modals."""
