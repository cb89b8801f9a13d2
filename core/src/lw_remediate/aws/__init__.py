"""AWS access: client sessions that record every call, credentials per target account,
and the table from an API call to the IAM action and resource it needs."""
