package web

var _ = expect(map[string]string{
	"GET /rooms":                         "admin staff client relative",
	"POST /rooms":                        "admin staff",
	"GET /rooms/{id}":                    "admin staff client relative",
	"POST /rooms/{id}/messages":          "admin staff client relative",
	"POST /rooms/{id}/attachments":       "admin staff client relative",
	"GET /rooms/{id}/attachments/{file}": "admin staff client relative",
	"POST /rooms/{id}/members":           "admin staff client relative",
	"POST /rooms/{id}/leave":             "admin staff client relative",
	"POST /rooms/{id}/inactivate":        "admin staff client relative",
	"POST /rooms/{id}/delete":            "admin staff client relative",
	"POST /api/v1/rooms/{id}/read":       "admin staff client relative",
	"GET /api/v1/rooms/{id}/events":      "admin staff client relative",
})
