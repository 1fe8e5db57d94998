"""HTML pages: organizer pages, public pages and calendar feeds."""
