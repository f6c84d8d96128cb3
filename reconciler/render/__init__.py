"""Views of a plan and of the stored state: text for people, JSON for programs."""
