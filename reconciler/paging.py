"""How many records a page of the server's listings holds."""

PAGE = 200
"""Records a page of a listing, unless the listing says otherwise (conversations: 1,000, see
`reconciler.kinds.conversation.PAGE`)."""
