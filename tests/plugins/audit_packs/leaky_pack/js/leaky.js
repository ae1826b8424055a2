// leaky_pack: an extension copied into web/extensions at import
