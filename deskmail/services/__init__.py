"""What people may see and do: access, queries, actions. The CLI, the console and the API
all call these, so that no rule about tickets or permissions is written twice."""
