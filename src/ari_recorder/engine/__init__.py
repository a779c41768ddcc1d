"""The controller: event intake, one mailbox per call, and the calls' handling through ARI."""
