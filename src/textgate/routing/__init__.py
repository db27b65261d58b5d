"""Routing: which connector a message goes to, failover between connectors, circuit breakers and shared
rate limits, all behind one :class:`~textgate.routing.router.Router` connector. See docs/routing.md."""
