"""TextingLine's public HTTP API served by textgate: a TextingLine client works by changing only its base
URL. ``dialect`` holds the routes, ``wire`` the JSON shapes (request, message object, errors, webhook
format) and ``media`` the fetching of an MMS's ``mediaUrl``. See docs/dialects/textingline.md."""
