"""Pure mappings from Graph records to OCSF 1.8.0 events, one module per event class.

Only this package knows OCSF. `user_inventory` maps a Graph user and its joined facts to a
User Inventory Info event (class 5003); `authentication` maps a Graph sign-in record to an
Authentication event (class 3002); `device_inventory` maps an Entra device, its Intune record
and owners to a Device Inventory Info event (class 5001); `common` names the helpers every
class uses; `mapping_doc` renders the three tables into docs/mapping.md.
"""
