"""Web: the first-login page and the overview a signed-in person sees (Flask, served by waitress)."""
