"""A stand-in for Asterisk that speaks ARI over real sockets, held to the traces of a real Asterisk."""
