"""The framework-free mail core: parse raw messages into `ParsedMessage`. No Django imports."""

from deskmail.mail.message import Address, Attachment, BounceInfo, ParsedMessage
from deskmail.mail.parser import parse_bytes, parse_file

__all__ = ["Address", "Attachment", "BounceInfo", "ParsedMessage", "parse_bytes", "parse_file"]
