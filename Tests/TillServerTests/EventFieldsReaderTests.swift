import Foundation
import StripeAPI
import Testing

@_spi(Bench) @testable import TillServer

/// The webhook path reads events with a hand-written reader (StripeFacts+Reader.swift); JSONDecoder over the same
/// `Decodable` fields is the reference it must agree with, on every event Till knows and on bodies that are not
/// events.
@Suite("Event fields read without JSONDecoder")
struct EventFieldsReaderTests {
    struct Read: Equatable {
        let id: String
        let type: String
        let object: String?
        let report: StripeFacts.Subject?
    }

    func read(_ json: String) -> Read? {
        (try? StripeFacts.EventFields.decode(Data(json.utf8))).map(Self.summary)
    }

    func reference(_ json: String) -> Read? {
        (try? JSONDecoder().decode(StripeFacts.EventFields.self, from: Data(json.utf8))).map(Self.summary)
    }

    static func summary(_ e: StripeFacts.EventFields) -> Read {
        Read(id: e.id, type: e.type.rawValue, object: e.object, report: StripeFacts.from(e))
    }

    @Test("every event type Till builds reads as JSONDecoder reads it, pretty or compact")
    func agreesOnEvents() throws {
        for type in TestEvents.supportedTypes {
            for status in ["paid", "unpaid"] {
                let options = TestEvents.Options(
                    orderId: "ord_1", paymentId: "pay_\(type.count)", amount: 2599, amountRefunded: 1000,
                    paymentStatus: status,
                    customerEmail: "b\u{e9}a+\"quoted\"@example.com")
                let event = try TestEvents.make(type: type, options: options)
                for pretty in [true, false] {
                    let json = String(decoding: try StripeJSON.encoder(pretty: pretty).encode(event), as: UTF8.self)
                    let read = read(json)
                    #expect(read != nil, "\(type)")
                    #expect(read == reference(json), "\(type) \(pretty)")
                }
            }
        }
    }

    @Test("escapes, expanded objects, nulls and unknown fields")
    func agreesOnEdges() {
        let cases = [
            // An expanded payment_intent, \u escapes with a surrogate pair, nested arrays among unknown fields.
            #"""
            {"id":"evt_\u0031\ud83d\ude00","object":"event","type":"checkout.session.completed","extra":[1,-2.5e3,{"a":[true,false,null]},"\"\\\/\b\f\n\r\t"],
             "data":{"object":{"object":"checkout.session","id":"cs_1","amount_total":1999,"currency":"usd","payment_status":"paid",
              "payment_intent":{"id":"pi_9","object":"payment_intent","charges":{"data":[]}},"metadata":{"paymentId":"pay_1","k\u00e9y":"v"},
              "customer_details":{"email":"x@y.z","address":null},"customer_email":null}}}
            """#,
            // Nulls where an object may be, an unknown type, a refund with an intent id.
            #"{"id":"evt_2","type":"some.new.type","data":{"object":{"object":"thing","metadata":null,"customer_details":null,"payment_intent":null}}}"#,
            #"{"id":"evt_3","object":"event","type":"charge.refunded","data":{"object":{"object":"charge","id":"ch_1","amount_refunded":500,"payment_intent":"pi_1","metadata":{}}}}"#,
            #"{"id":"evt_4","type":"payment_intent.payment_failed","data":{"object":{"object":"payment_intent","id":"pi_2","last_payment_error":{"code":"card_declined","decline_code":"insufficient_funds","message":"No.","param":null}}}}"#,
            // Escaped keys are the keys they spell; a key that only starts like one is another key.
            #"{"\u0069d":"evt_6","type":"checkout.session.completed","data":{"obj\u0065ct":{"object":"checkout.session","id":"cs_6","amount_total":5,"amount_totals":7,"am":1,"currency":"usd","metad\u0061ta":{"paymentId":"pay_6"},"payment_status":"paid"}}}"#,
            #" { "id" : "evt_5" , "type" : "payment_intent.succeeded" , "data" : { "object" : { "object" : "payment_intent" , "id" : "pi_3" , "amount" : 0 , "amount_received" : -0 } } } "#,
        ]
        for json in cases {
            #expect(read(json) != nil, "\(json)")
            #expect(read(json) == reference(json), "\(json)")
        }
    }

    @Test("bodies JSONDecoder refuses are refused")
    func refusesWhatJSONDecoderRefuses() {
        let refused = [
            "", "null", "[]", "{", #"{"id":"evt_1"}"#,  // no type or data
            #"{"id":"evt_1","type":"x","data":{}}"#,  // no data.object
            #"{"id":7,"type":"x","data":{"object":{}}}"#,  // id not a string
            #"{"id":"evt_1","type":"x","data":{"object":{"amount":"12"}}}"#,  // amount not a number
            #"{"id":"evt_1","type":"x","data":{"object":{"amount":12.5}}}"#,  // amount not whole
            #"{"id":"evt_1","type":"x","data":{"object":{"metadata":{"a":1}}}}"#,  // metadata values are strings
            #"{"id":"evt_1","type":"x","data":{"object":{"payment_intent":5}}}"#,
            #"{"id":"evt_1","type":"x","data":{"object":{}},"extra":[1 2]}"#,  // malformed where it is skipped
            #"{"id":"evt_1","type":"x","data":{"object":{}}} trailing"#,
            #"{"id":"evt_\ud83d","type":"x","data":{"object":{}}}"#,  // a lone surrogate
            "{\"id\":\"evt_\n\",\"type\":\"x\",\"data\":{\"object\":{}}}",  // a raw control character in a string
            #"{"id":"evt_1","type":"x","data":{"object":{"amount":01}}}"#,  // a leading zero
        ]
        for json in refused {
            #expect(reference(json) == nil, "reference accepts \(json)")
            #expect(read(json) == nil, "reader accepts \(json)")
        }
    }

    @Test("values and keys the reader skips must still be well-formed strings")
    func refusesMalformedSkippedStrings() {
        // Lone surrogates, a raw control character, an unknown escape, a short \u escape: where Till reads a
        // string JSONDecoder refuses them too; where the value is only skipped, the reader still refuses them.
        let refused = [
            #"{"id":"evt_1","type":"x","data":{"object":{"url":"\ud83d"}}}"#,
            #"{"id":"evt_1","type":"x","data":{"object":{"url":"\udc00x"}}}"#,
            "{\"id\":\"evt_1\",\"type\":\"x\",\"data\":{\"object\":{\"url\":\"a\tb\"}}}",
            #"{"id":"evt_1","type":"x","data":{"object":{"extra":{"k\q":1}}}}"#,
            #"{"id":"evt_1","type":"x","data":{"object":{"url":"\u12"}}}"#,
        ]
        for json in refused { #expect(read(json) == nil, "reader accepts \(json)") }
    }

    @Test("a NUL in a string the reader keeps refuses the event; one in a skipped value does not")
    func nul() {
        #expect(read(#"{"id":"evt_1","type":"x","data":{"object":{"metadata":{"paymentId":"p\u0000"}}}}"#) == nil)
        #expect(read(#"{"id":"evt_\u0000","type":"x","data":{"object":{}}}"#) == nil)
        #expect(read(#"{"id":"evt_1","type":"x","data":{"object":{"url":"\u0000"}}}"#) != nil)
    }
}
