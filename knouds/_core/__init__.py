"""The sans-I/O core: settings, requests, responses, retry, rate limits, the attempt and journal
flows, polling and spend rules. No sockets, files, threads, event loops, Redis or SQLite."""
