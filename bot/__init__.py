"""The Discord face: client, slash-command cogs, embeds, pagination and the announcer."""
