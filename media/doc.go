// Package media will carry the box's real-time media: the WebRTC SFU
// (pion/webrtc/v4), the TURN relay (pion/turn/v5) and call signalling.
//
// For now it holds the TURN port: the appliance reserves it at start so a
// port conflict shows up on the day of installation, and the clinic's
// firewall and router forwarding can be set up and checked before video
// calls arrive.
package media
