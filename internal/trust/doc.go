// Package trust decides as whom root restores an image. An image's
// checksums show it is whole, not who wrote it: anyone who can write the
// file can make it claim any uid, capability or path. So root restores an
// image as the user who owns its file (and could have written it), and
// refuses an image that anyone else could have written or put in its
// place: one writable by its group or by others, or in a directory they
// can write without the sticky bit. Owner finds that user and says why an
// image is refused; Become turns the calling process into that user
// (groups, gids, uids on every thread, no capabilities) after closing
// every descriptor it does not name, so nothing opened with root's rights
// outlives the switch. What belongs here: those checks and that switch.
// What does not: restoring credentials from an image (restart/threads.go),
// which then runs with the owner's rights only.
package trust
