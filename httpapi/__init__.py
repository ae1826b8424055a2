"""The HTTP and websocket API: ComfyUI's routes and payloads, served by aiohttp."""
