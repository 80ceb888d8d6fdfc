import Hummingbird

struct CatalogController {
    let catalog: CatalogService

    func addRoutes(public group: RouterGroup<TillRequestContext>, authenticated: RouterGroup<TillRequestContext>) {
        group.get("/products") { request, context in
            let page = try PageRequest(query: request.queryDictionary)
            return try JSONCoding.response(
                .ok, try await catalog.products(includeInactive: context.identity?.isAdmin == true, page: page))
        }
        group.get("/products/:id") { _, context in
            try JSONCoding.response(
                .ok,
                try await catalog.product(
                    id: try context.parameters.require("id"), includeInactive: context.identity?.isAdmin == true))
        }
        group.get("/plans") { request, _ in
            try JSONCoding.response(.ok, try await catalog.plans(page: try PageRequest(query: request.queryDictionary)))
        }
        group.get("/plans/:id") { _, context in
            try JSONCoding.response(.ok, try await catalog.plan(id: try context.parameters.require("id")))
        }
        authenticated.post("/products") { request, context in
            _ = try context.requireAdmin()
            let body = try await JSONCoding.decode(CatalogService.CreateProductRequest.self, from: request)
            return try JSONCoding.response(.created, try await catalog.createProduct(body))
        }
        authenticated.patch("/products/:id") { request, context in
            _ = try context.requireAdmin()
            let body = try await JSONCoding.decode(CatalogService.UpdateProductRequest.self, from: request)
            return try JSONCoding.response(
                .ok, try await catalog.updateProduct(id: try context.parameters.require("id"), body))
        }
        authenticated.post("/plans") { request, context in
            _ = try context.requireAdmin()
            let body = try await JSONCoding.decode(CatalogService.CreatePlanRequest.self, from: request)
            return try JSONCoding.response(.created, try await catalog.createPlan(body))
        }
    }
}
