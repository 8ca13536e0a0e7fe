"""Pure mappings from Graph records to OCSF 1.8.0 events, one module per event class.

Only this package knows OCSF. `user_inventory` maps a Graph user and its joined facts to a
User Inventory Info event (class 5003).
"""
