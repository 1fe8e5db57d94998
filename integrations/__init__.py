"""Conferencing platforms behind one adapter interface (`base.Adapter`), listed in
`registry.PLATFORMS`."""
