"""``query-api rebuild``: every read model built anew from the topics beside the live ones,
then switched to by renaming schemas, without stopping the API or the live projection
(ADR 0023). ``schemas`` copies and switches schemas, ``replay`` drives the projection into the
new one, ``progress`` reports.
"""
