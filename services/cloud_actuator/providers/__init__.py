"""Cloud providers: `sim` (kwok nodes, the default) and `aws` (EC2 through aiobotocore).

May import: the standard library, third-party packages, bosun_common and cloud_actuator's
`provider`, `offerings` and `catalogs` modules.
"""
