"""Run outputs: the fetch policy for media URLs, writing files, and notebook display."""
