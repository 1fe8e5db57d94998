"""Webinar and video-conference scheduler: the core service."""
