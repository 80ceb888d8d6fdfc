import Hummingbird

struct AuthController {
    let auth: AuthService

    struct Credentials: Decodable {
        let email: String
        let password: String
    }

    func addRoutes(public group: RouterGroup<TillRequestContext>, authenticated: RouterGroup<TillRequestContext>) {
        group.post("/auth/register") { request, context in
            let body = try await JSONCoding.decode(Credentials.self, from: request)
            let session = try await auth.register(
                email: body.email, password: body.password, address: context.remoteAddress)
            return try JSONCoding.response(.created, session)
        }
        group.post("/auth/login") { request, context in
            let body = try await JSONCoding.decode(Credentials.self, from: request)
            let session = try await auth.login(
                email: body.email, password: body.password, address: context.remoteAddress)
            return try JSONCoding.response(.ok, session)
        }
        authenticated.get("/auth/me") { _, context in
            try JSONCoding.response(.ok, try await auth.me(try context.requireIdentity()))
        }
    }
}
