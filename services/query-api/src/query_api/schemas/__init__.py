"""The bodies query-api answers with (and the one read body it accepts, a render request): what
``queries`` build from the read-model tables and ``api`` serves. Below both: they import
neither."""
